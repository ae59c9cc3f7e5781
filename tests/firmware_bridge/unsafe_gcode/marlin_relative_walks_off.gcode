; expect: marlin out_of_bounds line 7: Z 251.000 mm
G90
G28
G1 Z200 F600
G91
G1 Z50
G1 Z1
G90
