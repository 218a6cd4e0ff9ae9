#!/usr/bin/perl
# The Lua unit tests of the bundled modules, run inside the runtime (ipe-run test),
# with the temporary HOME and XDG folders of IpeTest (nothing of the user's leaks in).
# Arguments (files or folders) run only those; prove gives none: all of tests/lua.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IpeTest;

my $bin = $ENV{IPE_RUN} || repo_root() . '/ipe-run';
system($bin, 'test', @ARGV ? @ARGV : repo_root() . '/tests/lua');
exit($? == -1 ? 127 : $? & 127 ? 128 + ($? & 127) : $? >> 8);
