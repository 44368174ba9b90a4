"""The registry's console pages: datasets, experiments and runs, models, lineage.

Views are thin: they read through registry selectors (already restricted to what the user
may see: anything else is a 404), check actions with `registry.permissions`, write through
the services, and render templates under templates/registry/.
"""
