"""One pipeline step per module, each a factory taking what it needs and returning a Step."""
