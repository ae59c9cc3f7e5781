; expect: marlin out_of_bounds line 4: Y -5.000 mm
G90
G28
G1 X10 Y-5 F3000
