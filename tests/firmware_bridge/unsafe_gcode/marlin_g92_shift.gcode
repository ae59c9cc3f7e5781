; expect: marlin out_of_bounds line 5: X 230.000 mm
G28
G1 X100 Y100 F3000
G92 X0
G1 X130
