// The API's documentation: Swagger UI (served by the hub) on the hub's OpenAPI document.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
