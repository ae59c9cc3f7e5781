; expect: laser forbidden line 3: $= is forbidden
$$
$110=9000
