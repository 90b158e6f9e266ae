import os

# Tests run at the smallest scale whatever the caller's environment says.
os.environ["CLKIT_SCALE"] = "ci"
