; expect: laser out_of_bounds line 5: X 410.000 mm
G21 G90
G0 X10 Y10
G1 X20 F500
X410
