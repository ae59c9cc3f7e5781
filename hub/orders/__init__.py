"""Orders, the jobs they become, and the events that move jobs along."""
