"""The REST API: app factory, middlewares, one module per resource."""
