"""iPads: a configuration profile and QR codes, rendered on the control machine."""

# The model the iPad's apps are set up with (must be in the catalogue).
default_model = "mistral-7b-instruct"
