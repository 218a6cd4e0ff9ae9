package ClickHouseCluster;
# A real 2-shard ClickHouse cluster on 127.0.0.1 for the tests: two clickhouse-server
# processes with their own free ports, data folders and logs under one temp folder, and a
# remote_servers config naming both as the cluster "ipe" (one replica per shard). No
# ZooKeeper: DDL goes to each node (clickhouse://...?nodes=). Stopped by PID (TERM, then
# KILL) when the object goes away, at END, and on INT/TERM — even when a test dies.
#
#   my $c = ClickHouseCluster->start;        # dies with one line when it cannot
#   ClickHouseCluster->start(nodes => 1)     # one server alone (a cluster of one shard)
#   $c->url('db')  -> clickhouse://default@127.0.0.1:P1/db?cluster=ipe&nodes=127.0.0.1:P1,127.0.0.1:P2
#   $c->http(0|1)  -> the HTTP port of shard 1|2;  $c->sql($i, $query) -> the server's answer
#   $c->rows($i, $db, $sqlite_path, $table) -> the table's rows on both engines, comparable
#   ClickHouseCluster::checksum(\@rows) -> MD5 of those rows
#   $c->kill_node($i) (SIGKILL by PID), $c->stop
# Users: default (no password) and ipe (password in $ClickHouseCluster::PASSWORD).
# Also a command: perl tests/lib/ClickHouseCluster.pm start DIR | stop DIR (prints the URL).
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

our $PASSWORD = "s3cr\x{e9}t'\"pw";
my @live;

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "ClickHouseCluster: no free port: $!\n";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub server_bin {
    for my $b (qw(/usr/bin/clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse)) { return $b if -x $b }
    die "ClickHouseCluster: clickhouse-server is not installed (apt-get install -y clickhouse-server clickhouse-client)\n";
}

sub spew { my ($f, $s) = @_; open my $fh, '>:raw', $f or die "$f: $!"; print $fh $s; close $fh }

sub config {
    my ($dir, $i, $n) = @_;
    my $shards = join '', map {
        "<shard><replica><host>127.0.0.1</host><port>$n->[$_]{tcp}</port></replica></shard>"
    } 0 .. $#$n;
    my $me = $n->[$i];
    my $d = "$dir/node$i";
    return <<"XML";
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/server.log</log><errorlog>$d/error.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$me->{http}</http_port>
  <tcp_port>$me->{tcp}</tcp_port>
  <interserver_http_port>$me->{inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <remote_servers><ipe>$shards</ipe></remote_servers>
</yandex>
XML
}

sub users {
    my $pw = $PASSWORD;
    utf8::encode($pw);
    $pw =~ s/&/&amp;/g; $pw =~ s/</&lt;/g; $pw =~ s/'/&apos;/g; $pw =~ s/"/&quot;/g;
    return <<"XML";
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><log_queries>0</log_queries></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <ipe><password>$pw</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></ipe>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
}

sub ping {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1) or return 0;
    print $s "GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    close $s;
    return $r =~ /\r\n\r\nOk\.\n/ ? 1 : 0;
}

sub start {
    my ($class, %o) = @_;
    my $dir = $o{dir} // tempdir('ipe-ch-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $bin = server_bin();
    my $self = bless { dir => $dir, nodes => [], owner => $$, own_dir => !defined $o{dir} }, $class;
    my @ids = (0 .. ($o{nodes} // 2) - 1);
    my %used;
    my $port = sub { my $p; do { $p = free_port() } while $used{$p}++; $p };
    for my $i (@ids) { push @{ $self->{nodes} }, { http => $port->(), tcp => $port->(), inter => $port->() } }
    spew("$dir/users.xml", users());
    push @live, $self;
    for my $i (@ids) {
        my $d = "$dir/node$i";
        mkdir $d;
        mkdir "$d/$_" for qw(data tmp user_files format_schemas);
        spew("$d/config.xml", config($dir, $i, $self->{nodes}));
        my $pid = fork() // die "ClickHouseCluster: fork: $!\n";
        if ($pid == 0) {
            open(STDIN, '<', '/dev/null'); open(STDOUT, '>', "$d/stdout.log"); open(STDERR, '>&', \*STDOUT);
            POSIX::setsid();
            { exec { $bin } $bin, "--config-file=$d/config.xml" }
            POSIX::_exit(127);
        }
        $self->{nodes}[$i]{pid} = $pid;
    }
    my $deadline = time + 30;
    for my $i (@ids) {
        my $n = $self->{nodes}[$i];
        until (ping($n->{http})) {
            if (waitpid($n->{pid}, POSIX::WNOHANG()) == $n->{pid}) {
                delete $n->{pid};
                my $log = `tail -3 '$dir/node$i/stdout.log' '$dir/node$i/error.log' 2>/dev/null`;
                $self->stop;
                die "ClickHouseCluster: clickhouse-server $i exited at start: $log\n";
            }
            if (time > $deadline) { $self->stop; die "ClickHouseCluster: clickhouse-server $i not ready in 30 s\n" }
            sleep 0.05;
        }
    }
    return $self;
}

sub http { $_[0]{nodes}[$_[1]]{http} }
sub dir { $_[0]{dir} }
sub nodes { join ',', map { "127.0.0.1:$_->{http}" } @{ $_[0]{nodes} } }

sub url {
    my ($self, $db, %o) = @_;
    my $user = $o{user} // 'default';
    my $q = $o{single} ? '' : "?cluster=ipe&nodes=" . $self->nodes;
    return "clickhouse://$user\@127.0.0.1:$self->{nodes}[$o{node} // 0]{http}/$db$q";
}

# sql($i, $query) -> body (dies on an HTTP error), through clickhouse-client's HTTP sibling: plain sockets
sub sql {
    my ($self, $i, $query) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->http($i), Proto => 'tcp', Timeout => 30)
        or die "ClickHouseCluster: connect: $!\n";
    utf8::encode($query) if utf8::is_utf8($query);
    print $s "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: " . length($query) . "\r\n\r\n$query";
    local $/;
    my $r = <$s> // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $r, 2;
    die "ClickHouseCluster: $query: $body" unless $head =~ m{^HTTP/1\.\d 200};
    return $body;
}

# kill_node($i): SIGKILL shard $i by its PID (a shard lost mid-query); stop() skips it after
sub kill_node {
    my ($self, $i) = @_;
    my $n = $self->{nodes}[$i];
    return unless defined $n->{pid};
    kill 'KILL', $n->{pid};
    waitpid($n->{pid}, 0);
    delete $n->{pid};
}

# rows($i, $db, $sqlite, $table) -> (\@sqlite_rows, \@clickhouse_rows): the table's rows in a
# SQLite workspace and in database $db of the cluster (its committed rows, through node $i),
# each a line of its cells, sorted, comparable: times as exact epoch milliseconds, reals at
# 10 significant digits, NULL as 'NULL'
sub rows {
    my ($self, $i, $db, $sqlite, $t) = @_;
    my @cols = map { (split /\|/)[1] } split /\n/, `sqlite3 '$sqlite' 'PRAGMA table_info($t)'`;
    my %time = map { $_ => 1 } split /\n/, $self->sql($i, "SELECT name FROM system.columns WHERE database = '$db' "
        . "AND table = '${t}_local' AND type LIKE '%DateTime%'");
    my %real = map { $_ => 1 } split /\n/, $self->sql($i, "SELECT name FROM system.columns WHERE database = '$db' "
        . "AND table = '${t}_local' AND type LIKE '%Float%'");
    # SQLite's values travel as hex (rows hold newlines), ClickHouse's as TSV (unescaped here)
    my $lite = join ', ', map { my $e = $time{$_} ? "CAST(strftime('%s', $_) AS INTEGER) * 1000 + CAST(substr($_, 21, 3) AS INTEGER)"
        : $real{$_} ? "printf('%.10g', $_)" : $_; "CASE WHEN $_ IS NULL THEN 'NULL' ELSE hex($e) END" } @cols;
    my $chq = join ', ', map { $time{$_} ? "${_}_ms" : $real{$_} ? "if(isNull($_), NULL, toString(round($_, 6)))" : $_ } @cols;
    my %un = (n => "\n", t => "\t", r => "\r", b => "\b", f => "\f", 0 => "\0");
    my $num = sub { my $v = shift; defined $v && $v =~ /^-?\d+(?:\.\d+)?(?:e[-+]?\d+)?$/ ? $v + 0 : $v };
    my $row = sub { join "\x1f", map { defined $_ ? $num->($_) : 'NULL' } @_ };
    my @a = sort map { $row->(map { $_ eq 'NULL' ? undef : pack('H*', $_) } split /\t/, $_, -1) }
        split /\n/, `sqlite3 -separator '	' '$sqlite' "SELECT $lite FROM $t"`;
    my @b = sort map { $row->(map { $_ eq '\\N' ? undef : s/\\(.)/$un{$1} \/\/ $1/ger } split /\t/, $_, -1) }
        split /\n/, $self->sql($i, "SELECT $chq FROM $db.$t FORMAT TSV");
    return (\@a, \@b);
}

# checksum(\@rows) -> MD5 of the rows (as rows() returns them: sorted lines)
sub checksum { require Digest::MD5; Digest::MD5::md5_hex(join "\n", @{ $_[0] }) }

sub stop {
    my ($self) = @_;
    return if $self->{owner} != $$;
    my @pids = grep { defined } map { $_->{pid} } @{ $self->{nodes} };
    kill 'TERM', @pids if @pids;
    my $deadline = time + 15;
    for my $n (@{ $self->{nodes} }) {
        next unless defined $n->{pid};
        while (waitpid($n->{pid}, POSIX::WNOHANG()) == 0) {
            if (time > $deadline) { kill 'KILL', $n->{pid}; waitpid($n->{pid}, 0); last }
            sleep 0.05;
        }
        delete $n->{pid};
    }
    # the data folders hold many small files: rm is faster than File::Temp's cleanup
    system('rm', '-rf', "$self->{dir}/node0", "$self->{dir}/node1") if $self->{own_dir};
    @live = grep { $_ != $self } @live;
}

sub DESTROY { $_[0]->stop }
END { my $rc = $?; $_->stop for @live; $? = $rc }
for my $sig (qw(INT TERM HUP)) { $SIG{$sig} = sub { $_->stop for @live; POSIX::_exit(130) } }

# command line: start DIR (detached; prints the URL and the pids) | stop DIR
unless (caller) {
    my ($cmd, $dir) = @ARGV;
    die "usage: perl tests/lib/ClickHouseCluster.pm start|stop DIR\n" unless $cmd && $dir && $cmd =~ /^(start|stop)$/;
    mkdir $dir;
    if ($cmd eq 'start') {
        my $c = ClickHouseCluster->start(dir => $dir);
        spew("$dir/pids", join(' ', map { $_->{pid} } @{ $c->{nodes} }) . "\n");
        print $c->url('ipe'), "\n";
        $c->{owner} = -1;    # leave them running: 'stop DIR' ends them by their pids
        @live = ();
        exit 0;
    }
    open my $fh, '<', "$dir/pids" or die "no cluster started in $dir\n";
    my @pids = split ' ', scalar <$fh>;
    kill 'TERM', @pids;
    for (1 .. 300) { last unless grep { kill 0, $_ } @pids; sleep 0.05 }
    unlink "$dir/pids";
    exit 0;
}
1;
