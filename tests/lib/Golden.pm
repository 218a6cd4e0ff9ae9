package Golden;
# Golden files: tests/golden/<case>.cmd holds one ipe-run command, <case>.out what it printed.
# tests/golden.t runs every case and diffs; `make golden` (perl tests/golden.t --update)
# rewrites the .out files. See tests/golden/README.md for the fixed environment and the
# filter (the only changes made to the output before it is compared).
use strict;
use warnings;
use Exporter 'import';
use IpeTest;
use Cwd ();

our @EXPORT_OK = qw(cases run_case normalize pretty_json);

my $root = repo_root();
my $dir = "$root/tests/golden";
use constant GOLDEN_NOW => '2026-11-27T12:00:00Z';

# The fixed environment of every case (a .cmd may override a variable with VAR=value words).
sub base_env {
    my ($work) = @_;
    my $mmdb = fixtures_dir() . '/mmdb/test-data';
    return (IPE_DB => "$work/demo.db", IPE_NOW => GOLDEN_NOW, COLUMNS => 80, IPE_JOBS => 2,
            IPE_GEOIP => "$mmdb/GeoIP2-City-Test.mmdb:$mmdb/GeoLite2-ASN-Test.mmdb", NO_COLOR => 1);
}

# The deterministic demo workspace every case reads, built once per run.
my $work;
sub workspace {
    return $work if $work;
    $work = tmpdir();
    my ($out, $err, $rc) = ipe('demo', '--db', "$work/demo.db", '--seed', 1, '--events', 20000, '--now', GOLDEN_NOW);
    die "golden: the demo workspace failed ($rc): $err" if $rc != 0;
    return $work;
}

# cases() -> sorted case names (the .cmd files)
sub cases {
    opendir my $dh, $dir or die "$dir: $!";
    return sort map { /^(.+)\.cmd$/ ? $1 : () } readdir $dh;
}

# words(line) -> shell-like words: whitespace separates, '...' quotes (no escapes, no expansion)
sub words {
    my ($line) = @_;
    my @w;
    while ($line =~ /\G\s*(?:'([^']*)'|([^\s']+))/gc) { push @w, defined $1 ? $1 : $2 }
    $line =~ /\G\s*\z/gc or die "golden: bad quoting in: $line\n";
    return @w;
}

# parse(name) -> (\%env, \@args, $stdin_file): "[VAR=value...] ipe-run args... [< file]"
sub parse {
    my ($name) = @_;
    my ($line) = grep { /\S/ && !/^\s*#/ } split /\n/, slurp("$dir/$name.cmd");
    die "golden: $name.cmd has no command\n" unless defined $line;
    my @w = words($line);
    my (%env, $stdin);
    while (@w && $w[0] =~ /^([A-Z_][A-Z0-9_]*)=(.*)$/) { $env{$1} = $2; shift @w }
    die "golden: $name.cmd: the command must start with ipe-run\n" unless @w && shift(@w) eq 'ipe-run';
    if (@w >= 2 && $w[-2] eq '<') { $stdin = "$root/" . pop @w; pop @w }
    return (\%env, \@w, $stdin);
}

# run_case(name) -> the text its .out must hold
sub run_case {
    my ($name) = @_;
    my ($env, $args, $stdin) = parse($name);
    my $w = workspace();
    my %env = (base_env($w), %$env);
    my $cwd = Cwd::getcwd();
    chdir $root or die "chdir $root: $!";   # .cmd paths are relative to the repository
    my ($out, $err, $rc) = ipe({ env => \%env, defined $stdin ? (stdin => slurp($stdin)) : () }, @$args);
    chdir $cwd;
    $out = pretty_json($out) if $out =~ /\A[\[{]/ && $out =~ /[\]}]\n\z/ && $out !~ /\n./;
    my $text = $out;
    $text .= "\n--- no newline at the end of stdout\n" if length $text && $text !~ /\n\z/;
    $text .= "--- stderr\n$err" . ($err =~ /\n\z/ ? '' : "\n") if length $err;
    $text .= "--- exit $rc\n" if $rc != 0;
    return normalize($text, $w);
}

# normalize(text, workdir): the documented filter (tests/golden/README.md) and nothing else
sub normalize {
    my ($t, $work) = @_;
    $t =~ s/\Q$work\E/\$WORK/g;                 # the temporary folder of the workspace
    $t =~ s/\Q$root\E/\$ROOT/g;                 # where the repository is checked out
    $t =~ s/"ms":( ?)-?[0-9.eE+-]+/"ms":${1}0/g; # run times in JSON
    $t =~ s/\b\d+(?:\.\d+)? ms\b/N ms/g;        # run times in text
    return $t;
}

# pretty_json(compact JSON line) -> the same JSON, one member per line, 2-space indents; an array
# of scalars stays on one line. Only whitespace outside strings changes: keys keep their order,
# strings and numbers their exact text.
sub pretty_json {
    my ($s) = @_;
    my @tok = $s =~ /\G("(?:[^"\\]|\\.)*"|[{}\[\],:]|[^{}\[\],:"\s]+|\s+)/gc;
    return $s if (pos($s) // 0) != length $s;   # not JSON after all: leave it
    @tok = grep { /\S/ } @tok;
    my $i = 0;
    my $value;
    $value = sub {
        my ($depth) = @_;
        my $t = $tok[$i++];
        return $t unless $t eq '{' || $t eq '[';
        my $close = $t eq '{' ? '}' : ']';
        my (@items, $scalars);
        $scalars = 1;
        while (($tok[$i] // die "truncated\n") ne $close) {
            my $key = '';
            if ($t eq '{') { $key = $tok[$i] . ': '; $i += 2 }
            my $start = $tok[$i];
            $scalars = 0 if $start eq '{' || $start eq '[';
            push @items, $key . $value->($depth + 1);
            $i++ if ($tok[$i] // '') eq ',';
        }
        $i++;
        return "$t$close" unless @items;
        return "$t" . join(', ', @items) . $close if $t eq '[' && $scalars;
        my $pad = '  ' x ($depth + 1);
        return "$t\n" . join(",\n", map { "$pad$_" } @items) . "\n" . ('  ' x $depth) . $close;
    };
    my $out = eval { $value->(0) };
    return $s if !defined $out || $i != @tok;
    return "$out\n";
}

1;
