"""Pushed models: the version folders of a push destination, and labelling images with one."""
