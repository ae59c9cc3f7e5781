; expect: marlin out_of_bounds line 4: X 254.000 mm
G28
G20
G1 X10 F100
