; expect: laser power line 3: S1200 is above
G21 G90
M4 S1200
G1 X10 Y10 F600
