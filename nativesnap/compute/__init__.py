"""The API–compute seam (docs/architecture.md).

``api.py`` is the API side: it checks a request against the state machine
and the records, records what is accepted (the task lock included) and hands
the work to the server's compute service through ``rpcapi.py``, a versioned
RPC client. ``manager.py`` is the compute service's RPC endpoint: it runs
the drivers, the tasks (``tasks.py``, ``task_runner.py``), start-up
recovery and the periodic sync of what the hypervisor shows.
"""
