"""One module per component, each with one entry @deploy. Device deploys in deploys/
compose them."""
