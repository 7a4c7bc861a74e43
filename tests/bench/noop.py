"""An RQ job that does nothing, in a module that imports nothing: the worker's floor."""


def run() -> None:
    return None
