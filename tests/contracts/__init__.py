"""Contract checks on the files that deploy and document the platform (Dockerfile, compose, .env, guides)."""
