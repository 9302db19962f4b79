"""Files: result documents written and read back, scenario and deploy files parsed."""
