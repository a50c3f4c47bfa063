"""Node: configuration, `ilpnet up`, supervision of a whole network."""
