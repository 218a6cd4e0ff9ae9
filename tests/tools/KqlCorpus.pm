package KqlCorpus;
# The KQL corpus (tests/fixtures/kql-corpus): its queries, the two workspaces they run on, and
# each query's stages — parse (ipe.kql.parser), compile (ipe-run kql --explain), run on the demo
# workspace and on the ingested fixtures — with the one-line reason a failing one fails.
# Used by tests/cli/kql_corpus.t, tests/tools/kql_corpus_report and tests/bench/bench_kql.
#
#   corpus()                      -> ({file, name, path, commit, text}, ...) in sources.tsv order
#   workspaces()                  -> {demo => DB, fixtures => DB} built once (IpeTest's NOW)
#   stages($q, $dbs, $parsed)     -> {parse, compile, demo, fixtures} each {ok => 0|1, rows, reason}
#   parse_all()                   -> {file => undef (parsed) | "reason"} in one ipe-run test process
#   results()                     -> ([$q, $stages], ...) for the whole corpus
#   table(@results)               -> the README's Markdown table (one line per query)
#   names_construct($reason, $q)  -> whether a failure reason names a construct of the query
#   kql_rows($db, $text)          -> (rows [[...]...], columns [names], error line or undef)
#   sql_rows($db, $sql)           -> the same for ipe-run sql
use strict;
use warnings;
use Exporter 'import';
use IpeTest;

our @EXPORT_OK = qw(corpus workspaces stages parse_all results table names_construct kql_rows sql_rows
                    decode_json_text corpus_dir);

sub corpus_dir { fixtures_dir() . '/kql-corpus' }

sub corpus {
    my $dir = corpus_dir();
    my @q;
    for my $line (split /\n/, slurp("$dir/sources.tsv")) {
        my ($file, $path, $commit) = split /\t/, $line;
        (my $name = $file) =~ s/\.kql$//;
        push @q, { file => $file, name => $name, path => $path, commit => $commit, text => slurp("$dir/$file") };
    }
    return @q;
}

# The demo workspace (seed 1, 20,000 events, ending at NOW) and a workspace holding the
# real-world fixtures of tests/fixtures plus the corpus's own rows (kql-corpus/data).
my %ws;
sub workspaces {
    return \%ws if %ws;
    my $dir = tmpdir();
    my $fx = fixtures_dir();
    $ws{demo} = demo_db();
    $ws{fixtures} = "$dir/fixtures.db";
    my @files = (glob("$fx/sentinel/azure-sentinel/*.csv"), glob("$fx/sentinel/msticpy/*.jsonl"),
                 "$fx/sentinel/msticpy/ThreatIntelligenceIndicator.csv", "$fx/sentinel/msticpy/syslog_data.csv",
                 glob("$fx/windows-events/*.json"), glob("$fx/kql-corpus/data/*.jsonl"));
    @files = grep { !/AzureNetworkAnalytics_CL/ } @files;    # a custom table the workspace has no place for
    my ($out, $err, $rc) = ipe('ingest', '--db', $ws{fixtures}, @files);
    die "ingest of the fixtures failed ($rc): $err" if $rc != 0;
    return \%ws;
}

# A minimal JSON decoder for ipe's own output (objects, arrays, strings, numbers, literals).
sub decode_json_text {
    my ($s) = @_;
    my $pos = 0;
    my $val;
    my %lit = (true => 1, false => 0, null => undef);
    my $ws = sub { $pos++ while $pos < length($s) && substr($s, $pos, 1) =~ /\s/ };
    $val = sub {
        $ws->();
        my $c = substr($s, $pos, 1);
        if ($c eq '{') {
            $pos++; my %h; $ws->();
            if (substr($s, $pos, 1) eq '}') { $pos++; return \%h }
            while (1) {
                my $k = $val->(); $ws->(); die "json: ':' expected at $pos\n" unless substr($s, $pos++, 1) eq ':';
                $h{$k} = $val->(); $ws->();
                my $d = substr($s, $pos++, 1);
                return \%h if $d eq '}';
                die "json: ',' expected at $pos\n" unless $d eq ',';
            }
        }
        if ($c eq '[') {
            $pos++; my @a; $ws->();
            if (substr($s, $pos, 1) eq ']') { $pos++; return \@a }
            while (1) {
                push @a, $val->(); $ws->();
                my $d = substr($s, $pos++, 1);
                return \@a if $d eq ']';
                die "json: ',' expected at $pos\n" unless $d eq ',';
            }
        }
        if ($c eq '"') {
            $pos++; my $str = '';
            while (1) {
                my $ch = substr($s, $pos++, 1);
                die "json: unterminated string\n" if $ch eq '';
                last if $ch eq '"';
                if ($ch eq '\\') {
                    my $e = substr($s, $pos++, 1);
                    if ($e eq 'u') {
                        my $cp = hex substr($s, $pos, 4); $pos += 4;
                        if ($cp >= 0xD800 && $cp < 0xDC00 && substr($s, $pos, 2) eq '\\u') {
                            my $lo = hex substr($s, $pos + 2, 4); $pos += 6;
                            $cp = 0x10000 + (($cp - 0xD800) << 10) + ($lo - 0xDC00);
                        }
                        $str .= chr $cp;
                    } else {
                        $str .= { n => "\n", t => "\t", r => "\r", b => "\b", f => "\f" }->{$e} // $e;
                    }
                } else { $str .= $ch }
            }
            return $str;
        }
        if (substr($s, $pos) =~ /^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/) { $pos += length $1; return 0 + $1 }
        for my $w (keys %lit) { if (substr($s, $pos, length $w) eq $w) { $pos += length $w; return $lit{$w} } }
        die "json: unexpected '" . substr($s, $pos, 10) . "' at $pos\n";
    };
    my $v = $val->();
    return $v;
}

# The first line of an error, without the ipe-run prefix.
sub first_line {
    my ($err) = @_;
    my ($l) = grep { /\S/ } split /\n/, $err // '';
    $l //= '(no message)';
    $l =~ s/^ipe-run: (?:kql: )?//;
    return $l;
}

# Runs a query through ipe-run kql (standard input) on $db; rows, column names, error line.
sub kql_rows {
    my ($db, $text, @extra) = @_;
    my ($out, $err, $rc) = ipe({ stdin => $text }, 'kql', '-', '--db', $db, '--format', 'json', @extra);
    return (undef, undef, first_line($err) . " (exit $rc)") if $rc > 1 || $out !~ /^\{/;
    return json_rows($out);
}

sub sql_rows {
    my ($db, $sql) = @_;
    $sql =~ s/^--.*\n//mg;    # the reference's header comments
    my ($out, $err, $rc) = ipe('sql', $sql, '--db', $db, '--format', 'json');
    return (undef, undef, first_line($err) . " (exit $rc)") if $rc > 1 || $out !~ /^\{/;
    return json_rows($out);
}

sub json_rows {
    my ($out) = @_;
    my $doc = eval { decode_json_text($out) } or return (undef, undef, "unreadable JSON: $@");
    my $sec = ($doc->{sections} || [])->[0] or return ([], [], undef);
    return ($sec->{rows} || [], [map { $_->{name} } @{ $sec->{columns} || [] }], undef);
}

# Parses every corpus query with ipe.kql.parser in one ipe-run test process.
sub parse_all {
    my $dir = tmpdir();
    my $helper = repo_root() . '/tests/tools/kql_corpus_parse.lua';
    spew("$dir/kql_corpus_parse_test.lua", slurp($helper));
    my ($out, $err, $rc) = ipe({ env => { KQL_CORPUS_DIR => corpus_dir() } }, 'test', "$dir/kql_corpus_parse_test.lua");
    my %r;
    for my $line (split /\n/, $out) {
        next unless $line =~ /^# PARSE\t([^\t]+)\t(.*)$/;
        $r{$1} = $2 eq 'ok' ? undef : $2;
    }
    die "the parse helper printed nothing (exit $rc): $err$out" unless %r;
    return \%r;
}

sub stages {
    my ($q, $dbs, $parsed) = @_;
    my %s;
    my $preason = $parsed->{ $q->{file} };
    $s{parse} = { ok => !defined $preason, reason => $preason };
    my ($out, $err, $rc) = ipe({ stdin => $q->{text} }, 'kql', '--explain', '-');
    $s{compile} = $rc == 0 ? { ok => 1 } : { ok => 0, reason => first_line($err) };
    for my $w (qw(demo fixtures)) {
        if (!$s{compile}{ok}) { $s{$w} = { ok => 0, reason => 'not compiled' }; next }
        my ($rows, $cols, $e) = kql_rows($dbs->{$w}, $q->{text});
        $s{$w} = defined $e ? { ok => 0, reason => $e } : { ok => 1, rows => scalar @$rows };
    }
    return \%s;
}

sub results {
    my $dbs = workspaces();
    my $parsed = parse_all();
    return map { [$_, stages($_, $dbs, $parsed)] } corpus();
}

# A failure reason names a construct when it quotes a name ('x', "x" or `x`) that occurs in
# the query's text.
sub names_construct {
    my ($reason, $q) = @_;
    return 0 unless defined $reason;
    while ($reason =~ /['"`]([^'"`]+)['"`]/g) {
        my $name = $1;
        return 1 if index(lc $q->{text}, lc $name) >= 0;
    }
    return 0;
}

sub cell {
    my ($st) = @_;
    return 'yes' if $st->{ok} && !defined $st->{rows};
    return "$st->{rows} rows" if $st->{ok};
    return 'no';
}

sub esc { my ($s) = @_; $s =~ s/\|/\\|/g; $s =~ s/\s+/ /g; $s }

sub table {
    my (@res) = @_;
    my @out = ('| # | query | parse | compile | demo | fixtures | why not |', '|---|---|---|---|---|---|---|');
    for my $r (@res) {
        my ($q, $s) = @$r;
        my ($n, $title) = $q->{name} =~ /^(\d+)-(.*)$/;
        my $why = '';
        for my $stage (qw(parse compile demo fixtures)) {
            next if $s->{$stage}{ok};
            next if ($s->{$stage}{reason} // '') eq 'not compiled';
            $why = "$stage: " . esc($s->{$stage}{reason});
            last;
        }
        push @out, join(' | ', "| $n", "$title", map({ cell($s->{$_}) } qw(parse compile demo fixtures)), "$why |");
    }
    return join("\n", @out) . "\n";
}

1;
