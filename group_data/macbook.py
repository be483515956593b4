"""The MacBook: the control machine that runs pyinfra, and an API client itself."""
