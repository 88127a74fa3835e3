#!/usr/bin/perl
# sa-bayes-folds.pl FOLDS_DIR K — SpamAssassin's Bayes alone on the issue's
# K-fold split (file lists from folds.py): for each fold, learn the training
# lists into a fresh Bayes DB (as sa-learn does) and print "class
# probability" for each test message (the Bayes probability, as used by the
# BAYES_* rules). Only the Bayes plugin and one eval rule are loaded, so
# the run measures Bayes, not the rule set. Network tests off.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Mail::SpamAssassin;

my ($folds, $k) = @ARGV;
die "usage: $0 FOLDS_DIR K\n" unless defined $k;

sub lines { open my $fh, '<', $_[0] or die "$_[0]: $!"; chomp(my @l = <$fh>); grep { length } @l }
sub slurp { local $/; open my $fh, '<', $_[0] or die "$_[0]: $!"; my $s = <$fh>; $s }

for my $f (0 .. $k - 1) {
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/site";
    open my $pre, '>', "$dir/site/init.pre" or die;
    print $pre "loadplugin Mail::SpamAssassin::Plugin::Check\nloadplugin Mail::SpamAssassin::Plugin::Bayes\n";
    close $pre;
    # The registry boundaries (TLD lists) the message parser needs.
    open my $tlds, '>', "$dir/site/20_aux_tlds.cf" or die;
    print $tlds slurp('/usr/share/spamassassin/20_aux_tlds.cf');
    close $tlds;
    open my $cf, '>', "$dir/site/local.cf" or die;
    print $cf "use_bayes 1\nbayes_auto_learn 0\nbayes_auto_expire 0\nbayes_learn_to_journal 0\n",
        "bayes_path $dir/bayes\nbayes_min_ham_num 10\nbayes_min_spam_num 10\n",
        "body BAYES_ALL eval:check_bayes('0.00', '1.01')\nscore BAYES_ALL 0.001\n";
    close $cf;
    my $sa = Mail::SpamAssassin->new({
        rules_filename => "$dir/site", site_rules_filename => "$dir/site",
        userprefs_filename => "$dir/user_prefs", local_tests_only => 1,
        dont_copy_prefs => 1, home_dir_for_helpers => $dir,
    });
    $sa->init(1);
    for my $c (qw(spam ham)) {
        for my $file (lines("$folds/$f/train-$c.txt")) {
            my $mail = $sa->parse(slurp($file));
            $sa->learn($mail, undef, $c eq 'spam', 0);
            $mail->finish;
        }
    }
    $sa->finish_learner;
    for my $c (qw(ham spam)) {
        for my $file (lines("$folds/$f/test-$c.txt")) {
            my $mail = $sa->parse(slurp($file));
            my $st = $sa->check($mail);
            my $p = $st->{bayes_score};
            $p = 0.5 unless defined $p;
            printf "%s %.10f\n", $c, $p;
            $st->finish;
            $mail->finish;
        }
    }
    $sa->finish;
    print STDERR "fold $f done\n";
}
