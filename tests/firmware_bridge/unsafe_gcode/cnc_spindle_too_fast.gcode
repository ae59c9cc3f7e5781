; expect: cnc power line 2: S30000 is above
M3 S30000
