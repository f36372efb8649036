"""Sources: turn the world into records. Pure readers (a folder in, a record out) and the
followers that watch the disk and feed the hub. Sources never import outlets."""
