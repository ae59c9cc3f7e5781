; expect: marlin out_of_bounds line 4: Y -10.000 mm
G28
G1 X100 Y0 F3000
G3 X120 Y0 I10 J0 ; counter-clockwise from left to right passes below y=0
G2 X100 Y0 I-10 J0 ; clockwise back passes below too
