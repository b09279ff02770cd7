"""The built-in sandbox gateway, its three parts together:

- adapter.py: what PayHub calls, like any other gateway adapter (create, callbacks, poll);
- ledger.py: what the "gateway" itself believes, in its own table, and the signed callbacks
  it sends;
- pages.py: its hosted checkout page and status API (a blueprint under /sandbox).
"""
