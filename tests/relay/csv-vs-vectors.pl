#!/usr/bin/perl
# SPDX-License-Identifier: GPL-2.0-or-later
# csv-vs-vectors.pl VECTORS.tsv FILE.csv: the CSV rows, in order, must hold
# the values vectors.tsv expects for its data frames, in file order
# (null = empty cell, numbers compared as numbers). Prints each mismatch;
# exit status 1 if there is any, or if the row counts differ.
use strict;
use warnings;
use JSON::PP;

my ($tsv, $csv) = @ARGV;
my @want;
open(my $t, '<', $tsv) or die "$tsv: $!";
while (<$t>) {
	next if /^#/ || !/\S/;
	chomp;
	my (undef, undef, $json) = split /\t/;
	for my $f (@{ decode_json($json) }) {
		push @want, $f if ($f->{type} // '') eq 'data';
	}
}
open(my $c, '<', $csv) or die "$csv: $!";
my @head = split /,/, scalar <$c>;
chomp @head;
my @rows = map { chomp; [ split /,/, $_, -1 ] } <$c>;
my $bad = 0;
if (@rows != @want) {
	print "rows: ", scalar @rows, ", expected ", scalar @want, "\n";
	$bad++;
}
for my $i (0 .. $#want) {
	my %row;
	@row{@head} = @{ $rows[$i] // [] };
	my $w = $want[$i];
	for my $k (keys %$w) {
		next if $k =~ /^(type|ctrl|FW_MAIN|FW_SLAVE)$/;
		my $col = $k eq 'kit_sn' ? 'KitSN' : $k;
		next unless exists $row{$col};
		my ($e, $g) = ($w->{$k}, $row{$col});
		my $same = !defined $e ? $g eq '' :
		    ($e =~ /^-?[\d.]+$/ && $g =~ /^-?[\d.]+$/) ? $e == $g : $e eq $g;
		next if $same;
		printf "row %d %s: got '%s', expected '%s'\n", $i + 1, $col, $g,
		    $e // 'null';
		$bad++;
	}
}
exit($bad ? 1 : 0);
