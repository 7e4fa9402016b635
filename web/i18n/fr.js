// Français : les mots de la page (pages des enseignants et des élèves, et ce que toutes partagent).
I18N.add('fr', 'Français', {
  'lang.label': 'Langue',
  'nav.subjects': 'Matières',
  'nav.analytics': 'Statistiques',
  'nav.mine': 'Mes présences',
  'nav.logout': 'Se déconnecter',
  'nav.who': '{name} ({role})',
  'role.admin': 'administrateur',
  'role.teacher': 'enseignant',
  'role.student': 'élève',
});
