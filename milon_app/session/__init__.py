"""What a front-end holds: a running node with its chain, driver and (simulated) peers. No Qt."""
