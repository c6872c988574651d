/* The API page: Swagger UI over /data/openapi.json (assets of drf-spectacular-sidecar). */
'use strict';
(() => {
  const root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.dataset.url, domNode: root, deepLinking: true, docExpansion: 'list', defaultModelsExpandDepth: 0,
    tryItOutEnabled: false, displayRequestDuration: true, filter: true,
    presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout',
    requestInterceptor: (req) => { req.headers.Accept = req.headers.Accept || 'application/json'; return req; },
  });
})();
