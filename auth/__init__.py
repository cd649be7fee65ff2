"""Authentication: password hashing, tokens, cookies and login rate limits."""
