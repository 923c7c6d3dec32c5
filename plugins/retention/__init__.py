"""GDPR retention pipeline: the logic behind the ``gdpr_retention`` DAG.

Everything here runs without a scheduler: the DAG file only wires these functions into tasks.
"""
