#!/usr/bin/perl
# Doxygen input filter for uvws's headers (docs/Doxyfile.in: INPUT_FILTER).
#
# The headers use plain C comments, in the house style, and Doxygen reads
# only its own. This turns, in what Doxygen sees (the files are not
# changed):
#  - a comment that ends right above a declaration (no blank line between)
#    into that declaration's documentation, /** ... */;
#  - a comment after code on the same line (enumerators, members) into
#    /**< ... */, the documentation of that code;
#  - the file's first comment into its @file description.
# Comments followed by a blank line (section banners, notes), and comments
# inside macro definitions, stay plain.
use strict;
use warnings;

local $/;
my $text = <>;

# After code on the same line.
$text =~ s{^([ \t]*[^ \t\n/*][^\n]*?[ \t])/\*(?![*<])}{$1/**<}gm;

# Right above a declaration: the comment (not in a macro: its end is not
# followed by a backslash) ends a line, and the next line is code.
$text =~ s{^([ \t]*)/\*(?!\*)((?:(?!\*/).)*?\*/[ \t]*\n)(?=[ \t]*[^ \t\n/])}
          {$1/**$2}gms;

# The file's first comment.
$text =~ s{\A/\*\*?[ \t]*}{/** \@file\n * };

print $text;
