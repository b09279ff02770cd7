// /docs: render /openapi.json with Swagger UI (served from node_modules/swagger-ui-dist).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (typeof window.SwaggerUIBundle !== "function") {
    root.textContent = "Swagger UI is not installed (run `npm ci` in the PayHub folder); " +
      "the document itself is at /openapi.json.";
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
  });
})();
