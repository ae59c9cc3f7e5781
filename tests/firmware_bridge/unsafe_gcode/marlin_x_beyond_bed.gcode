; expect: marlin out_of_bounds line 5: X 260.000 mm is outside the work volume
G21
G90
G28
G1 X260 Y10 F3000
