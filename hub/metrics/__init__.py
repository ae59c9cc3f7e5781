"""City figures: relocalised production computed from the hub's job records (issue 7)."""
