"""Image scanning: inventories from layers, vulnerability matching against OSV data, SBOMs."""
