; expect: laser forbidden line 2: $X is forbidden
$X
