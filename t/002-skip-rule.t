# The rule for tests that cannot run everywhere (Nixery::Test::need and
# need_or_skip): on a developer's machine they skip; under CI (CI set) or
# with NIXERY_REQUIRE_ALL=1 they fail, so that a CI run without root or
# without a tool cannot pass by skipping.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;

my $t = Nixery::Test->new;
my $lib = "$FindBin::Bin/lib";
my $whole = $t->write_file('whole.t', <<'T');
use Test::More;
use Nixery::Test;
Nixery::Test::need(0, 'no such tool');
pass('ran');
done_testing;
T
my $block = $t->write_file('block.t', <<'T');
use Test::More;
use Nixery::Test;
SKIP: {
    Nixery::Test::need_or_skip(0, 'no such tool', 2);
    pass('ran 1');
    pass('ran 2');
}
pass('after');
done_testing;
T
my $present = $t->write_file('present.t', <<'T');
use Test::More;
use Nixery::Test;
Nixery::Test::need(1, 'no such tool');
SKIP: {
    Nixery::Test::need_or_skip(1, 'no such tool', 1);
    pass('ran');
}
done_testing;
T

# Runs a test file with exactly these rule variables; returns its exit
# status and output.
sub run_with {
    my ($file, %env) = @_;
    local $ENV{CI};
    local $ENV{NIXERY_REQUIRE_ALL};
    delete @ENV{qw(CI NIXERY_REQUIRE_ALL)};
    local @ENV{keys %env} = values %env;
    my $out = `$^X -I'$lib' '$file' 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run_with($whole);
is($rc, 0, 'developer machine: a missing tool skips');
like($out, qr/^1\.\.0 # SKIP no such tool/m, 'skip_all with the reason');
for my $env ([ CI => 'true' ], [ CI => 1 ], [ NIXERY_REQUIRE_ALL => 1 ]) {
    ($rc, $out) = run_with($whole, @$env);
    isnt($rc, 0, "$env->[0]=$env->[1]: a missing tool fails");
    like($out, qr/^not ok 1 - no such tool/m, '... saying why');
    unlike($out, qr/^ok/m, '... and runs nothing');
}
($rc, $out) = run_with($whole, CI => 'true', NIXERY_REQUIRE_ALL => 0);
is($rc, 0, 'NIXERY_REQUIRE_ALL=0 allows the skip under CI');

($rc, $out) = run_with($block);
is($rc, 0, 'SKIP block on a developer machine: skipped');
like($out, qr/^ok 1 # skip no such tool\nok 2 # skip/m, '... both tests');
($rc, $out) = run_with($block, NIXERY_REQUIRE_ALL => 1);
isnt($rc, 0, 'SKIP block with NIXERY_REQUIRE_ALL=1: fails');
like($out, qr/^not ok 1 - no such tool/m, '... saying why');
like($out, qr/^ok \d+ - after/m, '... and the file goes on');

($rc, $out) = run_with($present, CI => 'true');
is($rc, 0, 'under CI, a test whose needs are met runs');
like($out, qr/^ok 1 - ran\n1\.\.1$/m, '... every test');

$t->done;
done_testing;
