"""Atelier's shared contracts: event and command schemas, subject names, stream configuration.

Everything that crosses a process boundary is defined here, and only here.
"""
