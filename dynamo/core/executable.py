"""What an application sees: set by the server in the forked child before the script runs.

    from dynamo.core.executable import inventory, read_only, authorized
"""
inventory = None      # the inventory (the child's copy-on-write image)
read_only = True      # True unless the run is an authorized write request
authorized = False    # True for an authorized write request
