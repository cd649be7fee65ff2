"""The HTTP surface around the schema: the GraphQL view, middleware and plain routes."""
