"""The shelf model, the project's ground floor: the catalogue and its loader, errors, progress, the engine
probe, YAML serialisation, the label contract and every shared constant. It imports nothing else of the project.
"""
