; expect: cnc out_of_bounds line 4: Z -35.000 mm
G21 G90
G0 Z5
G1 Z-35 F100
