"""The outer layer: HTTP app, GraphQL endpoints and fast paths, webhooks, certificates, CLI."""
