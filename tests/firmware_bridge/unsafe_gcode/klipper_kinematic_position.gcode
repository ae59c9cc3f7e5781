; expect: klipper forbidden line 2: SET_KINEMATIC_POSITION is forbidden
SET_KINEMATIC_POSITION Z=0
