#!/usr/bin/perl
# Every test runs in its own temporary HOME and XDG folders: a developer's hunt copies
# ($XDG_DATA_HOME/ipe/hunts, what `hunt --edit` writes), config file (~/.config/ipe/config),
# IPE_* settings and EDITOR do not reach the suite. This plants all of them in an outer
# environment, shows that they do break a run that inherits them, then that the suite's
# own runners (IpeTest for the .t files, tests/lua.t for the Lua tests) are unaffected.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IpeTest;
use Test::More;

my $root = repo_root();
my $bin = $ENV{IPE_RUN} || "$root/ipe-run";
my $outer = tmpdir();
mkdir "$outer/$_" for qw(home home/.config home/.config/ipe data data/ipe data/ipe/hunts scripts scripts/insights);

# a stale `hunt --edit` copy of a built-in hunt: two hunts of one name are both BROKEN
spew("$outer/data/ipe/hunts/$_.lua", "return { name = '$_', kind = 'hunt' }\n") for qw(ip-everywhere subnet-sweep);
# a config file others can read: every run that reads it must refuse it
spew("$outer/home/.config/ipe/config", "[geoip]\npaths = /nonexistent/hostile.mmdb\n");
chmod 0644, "$outer/home/.config/ipe/config";
# a script folder with a broken insight, a workspace that is not one, an editor that fails
spew("$outer/scripts/insights/hostile.lua", "this is not Lua\n");
spew("$outer/not-a-workspace.db", "hostile\n");
my %hostile = (HOME => "$outer/home", XDG_DATA_HOME => "$outer/data", IPE_PATH => "$outer/scripts",
               IPE_DB => "$outer/not-a-workspace.db", IPE_NOW => '1999-01-01T00:00:00Z', EDITOR => 'false',
               XDG_CONFIG_HOME => undef, XDG_STATE_HOME => undef, XDG_CACHE_HOME => undef);

# run(\@cmd) under the hostile outer environment -> (output, exit code)
sub run_outer {
    my @cmd = @_;
    local %ENV = %ENV;
    for my $k (keys %hostile) { defined $hostile{$k} ? ($ENV{$k} = $hostile{$k}) : delete $ENV{$k} }
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) { open STDERR, '>&', \*STDOUT or die; exec { $cmd[0] } @cmd or die "exec $cmd[0]: $!" }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($out, $? >> 8);
}

# A Lua test of what the hostile environment changes: the script index, the config file,
# the default workspace. Run through tests/lua.t it must pass; inheriting the outer
# environment it must fail (else this test could not fail).
spew("$outer/env_test.lua", <<'LUA');
local T = require "ipe.testing"
local discover = require "ipe.discover"
T.case("ip-everywhere is one hunt, not two", function()
  local e = discover.find(discover.scan(), "hunt", "ip-everywhere")
  T.eq(e and e.broken, nil, "ip-everywhere")
end)
T.case("no script folder but the built-in one", function()
  local roots = discover.roots()
  T.eq(#roots, 1, "roots")
  T.eq(roots[1].origin, "built-in")
end)
T.case("the config file is the suite's own (none)", function()
  local ok, err = pcall(require("ipe.config").load)
  T.ok(ok, tostring(err))
end)
T.case("the default workspace is under the suite's XDG_DATA_HOME", function()
  T.eq(require("ipe.workspace").path(), require("ipe.proc").getenv("XDG_DATA_HOME") .. "/ipe/workspace.db")
end)
LUA

# 1. The planted environment is hostile to a run that inherits it.
{
    my ($out, $rc) = run_outer($bin, 'list', 'hunts', '-f', 'csv');
    like($out, qr/^hunt,ip-everywhere,BROKEN,.*duplicate hunt name 'ip-everywhere'/m,
         'control: a plain run sees the stale hunt copy (ip-everywhere is BROKEN)');
    ($out, $rc) = run_outer($bin, 'test', "$outer/env_test.lua");
    isnt($rc, 0, 'control: the Lua probe fails when it inherits the outer environment');
    is(scalar(() = $out =~ /^not ok /mg), 4, 'control: each of its four cases fails') or diag($out);
    ($out, $rc) = run_outer($bin, 'enrich', '-');
    like($out, qr/config \Q$outer\E\/home\/\.config\/ipe\/config is readable by group or others/,
         'control: a plain run reads ~/.config/ipe/config');
}

# 2. The Lua tests through tests/lua.t are unaffected.
{
    my ($out, $rc) = run_outer($^X, "$root/tests/lua.t", "$outer/env_test.lua", "$root/tests/lua/config_test.lua");
    is($rc, 0, 'tests/lua.t: the probe and the config tests pass under the hostile environment') or diag($out);
    unlike($out, qr/^not ok/m, 'tests/lua.t: no case fails');
    like($out, qr/^1\.\.\d+$/m, 'tests/lua.t: a plan');
}

# 3. A .t file (IpeTest): its own process, ipe() and any command it starts.
{
    my $probe = <<'PERL';
use IpeTest;
print "HOME=$ENV{HOME}\n";
print "$_=", ($ENV{$_} // 'unset'), "\n" for qw(XDG_DATA_HOME XDG_CONFIG_HOME IPE_PATH IPE_DB IPE_NOW EDITOR);
my ($out, $err, $rc) = ipe('list', 'hunts', '-f', 'csv');
print "ipe: $rc ", ($out =~ /^hunt,ip-everywhere,"offline/m && $out !~ /BROKEN/ ? 'ip-everywhere ok' : "ip-everywhere not ok: $out$err"), "\n";
my $sys = `'$ARGV[0]' list insights -f csv 2>&1`;
print "system: ", ($sys =~ /hostile|BROKEN/ ? "hostile: $sys" : 'clean'), "\n";
($out, $err, $rc) = ipe({ stdin => "1.2.3.4\n" }, 'enrich', '-');
print "config: $rc ", ($err =~ /readable by group or others/ ? $err : 'not read'), "\n";
PERL
    my ($out, $rc) = run_outer($^X, "-I$root/tests/lib", '-e', $probe, $bin);
    is($rc, 0, 'IpeTest probe: ran') or diag($out);
    my %got = $out =~ /^(\w+)=(.*)$/mg;
    is(scalar(keys %got), 7, 'IpeTest probe: printed its environment') or diag($out);
    like($got{HOME}, qr{/ipe-test-\w+/home$}, 'IpeTest: HOME is a temporary folder');
    unlike($got{$_}, qr/^\Q$outer\E/, "IpeTest: $_ is not the outer one") for qw(HOME XDG_DATA_HOME XDG_CONFIG_HOME);
    is($got{$_}, 'unset', "IpeTest: $_ is removed") for qw(IPE_PATH IPE_DB IPE_NOW EDITOR);
    like($out, qr/^ipe: 0 ip-everywhere ok$/m, 'IpeTest: ipe() does not see the stale hunt copy');
    like($out, qr/^system: clean$/m, 'IpeTest: a command the test starts itself does not see IPE_PATH');
    like($out, qr/^config: 0 not read$/m, 'IpeTest: the outer config file is not read');
}

done_testing();
